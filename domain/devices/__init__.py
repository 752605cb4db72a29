"""The register of rented devices (资产): each device, its QR label, its history, the CSV import and export."""
