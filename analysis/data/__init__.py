"""The MSL data set: reading and checking it (index), downloading it (download), decoding it
into arrays once (cache), and describing it (eda)."""
