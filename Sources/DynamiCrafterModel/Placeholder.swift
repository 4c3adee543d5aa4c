// The DynamiCrafterModel module is being written.
