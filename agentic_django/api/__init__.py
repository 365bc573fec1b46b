"""The HTTP API: async DRF views (adrf) over the pipeline."""
