"""The API's operations, one module per audience; each exports ``ROUTES``."""
