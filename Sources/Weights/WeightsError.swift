// Placeholder: the weights module is being written.
