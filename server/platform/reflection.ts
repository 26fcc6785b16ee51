// gRPC server reflection (v1 and v1alpha) for connect-node, which has no package for it: lets grpcurl, buf curl
// and Postman discover every service without the .proto files. Answers from the generated file descriptors.
import { toBinary, type DescEnum, type DescFile, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../../gen/third_party/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/third_party/grpc/reflection/v1alpha/reflection_pb.js";

/** Indexes files (and their transitive dependencies) by file name and by every symbol they define. */
export function indexFiles(files: DescFile[]) {
  const byName = new Map<string, DescFile>();
  const bySymbol = new Map<string, DescFile>();
  const services = new Set<string>();
  const addMessage = (m: DescMessage, f: DescFile) => {
    bySymbol.set(m.typeName, f);
    for (const field of m.fields) bySymbol.set(`${m.typeName}.${field.name}`, f);
    for (const n of m.nestedMessages) addMessage(n, f);
    for (const e of m.nestedEnums) addEnum(e, f);
  };
  const addEnum = (e: DescEnum, f: DescFile) => bySymbol.set(e.typeName, f);
  const visit = (f: DescFile) => {
    if (byName.has(`${f.name}.proto`)) return;
    byName.set(`${f.name}.proto`, f);
    f.dependencies.forEach(visit);
    for (const m of f.messages) addMessage(m, f);
    for (const e of f.enums) addEnum(e, f);
    for (const s of f.services) {
      bySymbol.set(s.typeName, f);
      for (const m of s.methods) bySymbol.set(`${s.typeName}.${m.name}`, f);
    }
  };
  files.forEach(visit);
  for (const f of files) for (const s of f.services) services.add(s.typeName);
  return { byName, bySymbol, services: [...services].sort() };
}

/** The file and everything it imports, each once, the file first. */
function withDependencies(file: DescFile): Uint8Array[] {
  const seen = new Set<DescFile>();
  const out: Uint8Array[] = [];
  const walk = (f: DescFile) => {
    if (seen.has(f)) return;
    seen.add(f);
    out.push(toBinary(FileDescriptorProtoSchema, f.proto));
    f.dependencies.forEach(walk);
  };
  walk(file);
  return out;
}

type Request = v1.ServerReflectionRequest | v1alpha.ServerReflectionRequest;

/** Answers one reflection request; shared by v1 and v1alpha, whose messages have the same shape. */
function answer(index: ReturnType<typeof indexFiles>, req: Request) {
  const notFound = (what: string) => ({
    case: "errorResponse" as const,
    value: { errorCode: 5, errorMessage: `${what} not found` },
  });
  const r = req.messageRequest;
  switch (r.case) {
    case "listServices":
      return { case: "listServicesResponse" as const, value: { service: index.services.map((name) => ({ name })) } };
    case "fileByFilename": {
      const f = index.byName.get(r.value);
      return f
        ? { case: "fileDescriptorResponse" as const, value: { fileDescriptorProto: withDependencies(f) } }
        : notFound(`file ${r.value}`);
    }
    case "fileContainingSymbol": {
      const f = index.bySymbol.get(r.value.replace(/^\./, ""));
      return f
        ? { case: "fileDescriptorResponse" as const, value: { fileDescriptorProto: withDependencies(f) } }
        : notFound(`symbol ${r.value}`);
    }
    case "fileContainingExtension":
      return notFound(`extension ${r.value.containingType}/${r.value.extensionNumber}`);
    case "allExtensionNumbersOfType":
      return index.bySymbol.has(r.value)
        ? { case: "allExtensionNumbersResponse" as const, value: { baseTypeName: r.value, extensionNumber: [] } }
        : notFound(`type ${r.value}`);
    default:
      return { case: "errorResponse" as const, value: { errorCode: 3, errorMessage: "empty reflection request" } };
  }
}

/** The reflection files themselves, to add to what the server lists. */
export const reflectionFiles: DescFile[] = [
  v1.file_third_party_grpc_reflection_v1_reflection,
  v1alpha.file_third_party_grpc_reflection_v1alpha_reflection,
];

/** Registers ServerReflection v1 and v1alpha answering about `files`. */
export function registerReflection(router: ConnectRouter, files: DescFile[]) {
  const index = indexFiles([...files, ...reflectionFiles]);
  for (const service of [v1.ServerReflection, v1alpha.ServerReflection]) {
    router.service(service as typeof v1.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) {
          yield { validHost: req.host, originalRequest: req, messageResponse: answer(index, req) } as never;
        }
      },
    });
  }
}
