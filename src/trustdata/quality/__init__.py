"""Data quality: the expectation suites, their GX validation of each batch, and Data Docs."""
