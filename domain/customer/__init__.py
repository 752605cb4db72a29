"""The customer's side, without an account: the fault report page (from a device's QR label or the website), the
tracking link of a request, and the rating afterwards."""
