"""eksguard: shared logic for the eksguard Lambda functions (shipped as a Lambda layer)."""

__version__ = "0.1.0"
