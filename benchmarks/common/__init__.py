"""What every benchmark and study shares: where things are (`paths`), the machine (`host`), the one results
writer (`record`)."""
