from __future__ import annotations

from django.db import models
from django.utils import timezone


class Signup(models.Model):
    """One account created from an address, kept only as long as the sign-up limit's window
    (accounts/signup_limit.py removes older rows), so the table never holds a history of
    addresses."""

    address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["address", "created_at"])]

    def __str__(self) -> str:
        return f"{self.address} at {self.created_at:%Y-%m-%d %H:%M}"
