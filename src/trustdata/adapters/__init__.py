"""MIS adapters: one file per MIS, registered in ``registry``; the contract is in ``base``."""
