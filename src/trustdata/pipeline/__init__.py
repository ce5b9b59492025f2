"""Extract -> land -> audit -> publish: plain functions over one (academy, stream) batch."""
