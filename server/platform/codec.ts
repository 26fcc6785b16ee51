// The codec lives in lib/codec.ts (the CLI decodes documents with it too); re-exported for the server's modules.
export * from "../../lib/codec.js";
