"""Results: the store every stage records into, and the tables made from it."""
