// This client's version (the package's), kept in its own module so any verb can print it without loading main.
export const CLIENT_VERSION = "0.1.0";
