"""The page's one WebSocket: typed JSON messages routed to small handlers that live with their
feature (terminal now; the live cluster view and lesson progress plug in the same way)."""
