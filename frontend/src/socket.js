// The page's one WebSocket, with typed messages, automatic reconnection (exponential backoff)
// and a keepalive ping so that proxies do not drop an idle connection.
export class PageSocket {
  constructor(url) {
    this.url = url;
    this.handlers = {};
    this.delay = 500;
    this.ws = null;
    this.connect();
    setInterval(() => this.send({ type: "ping" }), 25000);
  }

  on(type, handler) { (this.handlers[type] ||= []).push(handler); }

  emit(type, message) { (this.handlers[type] || []).forEach((h) => h(message)); }

  connect() {
    this.ws = new WebSocket(this.url);
    this.ws.onopen = () => { this.delay = 500; this.emit("open", {}); };
    this.ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      this.emit(message.type, message);
    };
    this.ws.onclose = (event) => {
      this.emit("close", event);
      // Logged out, or no longer allowed (a watch page whose staff left the class): reconnecting
      // cannot help.
      if (event.code === 4401 || event.code === 4404) return;
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    };
  }

  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }
}
