"""Catalog rules without I/O: SRT parsing, YouTube ids, the value sets the contract allows."""
