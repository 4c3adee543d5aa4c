// Placeholder: the model store is being written.
enum ModelStorePlaceholder {}
