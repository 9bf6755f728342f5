"""Services: one function per thing a person can do, over a HomeContext."""
