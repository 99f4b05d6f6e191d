"""Twilio: text messages (``send_sms``), their delivery receipts and the replies to them (STOP)."""
