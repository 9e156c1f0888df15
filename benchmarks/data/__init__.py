"""Dataset helpers: the one labelled-data reader and writer (`labelled`), the text sets (`texts`), the in-process
train/test splits (`splits`)."""
