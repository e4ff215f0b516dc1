"""Alert delivery: HMAC-signed webhooks and syslog, de-duplicated through the store."""
