// Repositories and resource syncs with their conditions (Accessible, Synced, ...), each deletable by roles that may.
import { RepositoryService } from "../../../gen/flightctl/v1beta1/repository_service_pb.js";
import { ResourceSyncService } from "../../../gen/flightctl/v1beta1/resourcesync_service_pb.js";
import type { Condition } from "../../../gen/flightctl/v1beta1/meta_pb.js";
import { client } from "../api.js";
import { Badge, ErrorBox, Page, useApp, useAsync, useInterval, GridHead } from "../common.js";
import { DeleteButton } from "../delete-button.js";
import { Link } from "../router.js";

function ConditionBadges({ list }: { list?: Condition[] }) {
  if (!list?.length) return <span class="muted">–</span>;
  return (
    <ul class="labels">
      {list.map((c) => (
        <li key={c.type} title={c.message}>
          {c.type}: <Badge value={c.status} /> {c.status !== "True" && c.message ? <span class="muted">{c.message}</span> : null}
        </li>
      ))}
    </ul>
  );
}

export function RepositoriesPage() {
  const { orgId, can } = useApp();
  const mayDelete = can("repositories", "delete");
  const list = useAsync(() => client(RepositoryService).listRepositories({ orgId }), [orgId]);
  useInterval(list.reload, 10_000);
  return (
    <Page
      title="Repositories"
      actions={
        can("repositories", "create") ? (
          <Link href="/create/Repository" class="button">
            Create repository
          </Link>
        ) : null
      }
    >
      <ErrorBox error={list.error} />
      <div class="table-wrap">
        <table class="grid">
          <GridHead cols={["Name", "Type", "URL", "Conditions", ...(mayDelete ? ["Actions"] : [])]} />
          <tbody>
            {(list.data?.items ?? []).map((r) => (
              <tr key={r.metadata?.name}>
                <td>
                  {can("repositories", "update") ? (
                    <Link href={`/edit/Repository/${r.metadata?.name}`}>{r.metadata?.name}</Link>
                  ) : (
                    r.metadata?.name
                  )}
                </td>
                <td>{r.spec?.type}</td>
                {/* An oci repository has a registry where the others have a URL (as flightctl's CLI shows it). */}
                <td class="mono">{r.spec?.url ?? r.spec?.registry}</td>
                <td>
                  <ConditionBadges list={r.status?.conditions} />
                </td>
                {mayDelete ? (
                  <td>
                    <DeleteButton kind="Repository" name={r.metadata?.name ?? ""} onDone={list.reload} />
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Page>
  );
}

export function ResourceSyncsPage() {
  const { orgId, can } = useApp();
  const mayDelete = can("resourcesyncs", "delete");
  const list = useAsync(() => client(ResourceSyncService).listResourceSyncs({ orgId }), [orgId]);
  useInterval(list.reload, 10_000);
  return (
    <Page
      title="Resource syncs"
      actions={
        can("resourcesyncs", "create") ? (
          <Link href="/new/ResourceSync" class="button">
            Create resource sync
          </Link>
        ) : null
      }
    >
      <ErrorBox error={list.error} />
      <div class="table-wrap">
        <table class="grid">
          <GridHead cols={["Name", "Repository", "Revision / path", "Observed commit", "Conditions", ...(mayDelete ? ["Actions"] : [])]} />
          <tbody>
            {(list.data?.items ?? []).map((r) => (
              <tr key={r.metadata?.name}>
                <td>
                  {can("resourcesyncs", "update") ? (
                    <Link href={`/edit/ResourceSync/${r.metadata?.name}`}>{r.metadata?.name}</Link>
                  ) : (
                    r.metadata?.name
                  )}
                </td>
                <td>{r.spec?.repository}</td>
                <td class="mono">
                  {r.spec?.targetRevision} {r.spec?.path}
                </td>
                <td class="mono">{r.status?.observedCommit?.slice(0, 12) ?? "–"}</td>
                <td>
                  <ConditionBadges list={r.status?.conditions} />
                </td>
                {mayDelete ? (
                  <td>
                    <DeleteButton kind="ResourceSync" name={r.metadata?.name ?? ""} onDone={list.reload} />
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Page>
  );
}
