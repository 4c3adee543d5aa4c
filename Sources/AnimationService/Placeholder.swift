// Placeholder: the job engine is being written.
enum AnimationServicePlaceholder {}
