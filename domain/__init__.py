"""The domain: models and the rules of the service process.

Nothing here imports a blueprint; views call into this package.
"""
