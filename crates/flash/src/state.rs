//! The State Manager client: Runpod's GraphQL API for Flash environments and builds.
