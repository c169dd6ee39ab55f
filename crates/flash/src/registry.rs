//! The ServiceRegistry: which process runs a function, and at which URL.
