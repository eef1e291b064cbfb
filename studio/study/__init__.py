"""User-preference studies: definitions, storage, participant flow and agreement statistics."""
