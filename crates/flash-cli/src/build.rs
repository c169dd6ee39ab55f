//! `flash build`: compile the app, write its manifest, package the artifact.
