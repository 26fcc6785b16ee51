// Which git dependencies a spec has, how their commits are recorded, and that each is asked of git once.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { JsonObject } from "@bufbuild/protobuf";
import { GitError, type GitClient } from "./git.js";
import {
  ANNOTATION_DEVICE_GIT_COMMITS,
  deviceCommits,
  deviceCommitsAnnotation,
  gitDependencies,
  resolveDependencies,
  templateVersionCommits,
  templateVersionCommitsAnnotation,
} from "./git-dependencies.js";
import type { StoredRepository } from "./repository-refs.js";

const gitRef = (repository: string, targetRevision: string) => ({
  name: `${repository}-${targetRevision}`,
  gitRef: { repository, targetRevision, path: "/" },
});

test("git dependencies: branches and tags once each; commit ids, template parameters and other providers left out", () => {
  const spec: JsonObject = {
    config: [
      gitRef("cfg", "main"),
      gitRef("cfg", "main"),
      gitRef("cfg", "v1"),
      gitRef("cfg", "a".repeat(40)),
      gitRef("cfg", "{{ .metadata.labels.channel }}"),
      gitRef("cfg", ""),
      { name: "web", httpRef: { repository: "web", filePath: "/etc/x" } },
      { name: "inline", inline: [{ path: "/etc/y", content: "y" }] },
    ],
  };
  assert.deepEqual(gitDependencies(spec), [
    { key: "git:cfg/main", repository: "cfg", revision: "main" },
    { key: "git:cfg/v1", repository: "cfg", revision: "v1" },
  ]);
  assert.deepEqual(gitDependencies(null), []);
});

test("recorded commits: a template version's always, a standalone device's only under its freeze key", () => {
  const commits = { "git:b/main": "2", "git:a/main": "1" };
  const tv = templateVersionCommitsAnnotation(commits);
  assert.deepEqual(templateVersionCommits(tv), commits);
  assert.deepEqual(templateVersionCommitsAnnotation({}), {});
  assert.deepEqual(templateVersionCommits({}), {});
  assert.deepEqual(templateVersionCommits({ "fleet-controller/gitCommits": "not json" }), {});

  const annotations = { [ANNOTATION_DEVICE_GIT_COMMITS]: deviceCommitsAnnotation("device/d@1/1", commits) };
  assert.deepEqual(deviceCommits(annotations, "device/d@1/1"), commits);
  assert.equal(deviceCommits(annotations, "device/d@1/2"), undefined);
  assert.equal(deviceCommits({}, "device/d@1/1"), undefined);
  // Equal maps give equal text, whatever the order they were built in.
  assert.equal(deviceCommitsAnnotation("k", { "git:a/main": "1", "git:b/main": "2" }), deviceCommitsAnnotation("k", commits));
});

test("resolveDependencies asks once per dependency, skips unusable repositories and reports failures as results", async () => {
  const asked: string[] = [];
  const git = {
    resolve: async (repo: { url: string }, revision: string) => {
      asked.push(`${repo.url}#${revision}`);
      if (revision === "gone") throw new GitError("RevisionNotFound", `revision "gone" not found in ${repo.url}`);
      return `${revision}-commit`;
    },
  } as unknown as GitClient;
  const repos = new Map<string, StoredRepository>([
    ["cfg", { spec: { type: "git", url: "https://h/cfg.git" }, type: "git", version: "1.1" }],
    ["web", { spec: { type: "http", url: "https://h/" }, type: "http", version: "1.1" }],
  ]);
  const deps = [
    ...gitDependencies({ config: [gitRef("cfg", "main"), gitRef("cfg", "gone"), gitRef("web", "main"), gitRef("nope", "main")] }),
    ...gitDependencies({ config: [gitRef("cfg", "main")] }),
  ];
  const r = await resolveDependencies(git, repos, deps, 2);
  assert.deepEqual(asked.sort(), ["https://h/cfg.git#gone", "https://h/cfg.git#main"]);
  assert.deepEqual(Object.fromEntries(r), {
    "git:cfg/main": { commit: "main-commit" },
    "git:cfg/gone": { error: 'revision "gone" not found in https://h/cfg.git' },
  });
});
