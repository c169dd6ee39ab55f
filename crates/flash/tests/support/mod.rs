pub mod graphql_server;
