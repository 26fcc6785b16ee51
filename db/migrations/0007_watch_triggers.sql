-- Custom SQL migration (drizzle-kit cannot express triggers): what watch streams need from every writer.
-- flightctl_watch_notify: one NOTIFY per statement (Postgres folds identical payloads of one transaction), so a batch
-- of 1,000 status writes wakes every API replica once. Payload: the kind.
-- flightctl_watch_row: creations and deletions into watch_changes (a deletion gets a fresh resource_version and keeps
-- the row's last state), so watchers see DELETED and resumes know ADDED from MODIFIED.
CREATE FUNCTION flightctl_watch_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('flightctl_watch', TG_ARGV[0]);
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE FUNCTION flightctl_watch_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO watch_changes (resource_version, kind, org_id, name, parent, op, object)
    VALUES (nextval('resource_version_seq'), TG_ARGV[0], OLD.org_id, OLD.name, to_jsonb(OLD) ->> 'fleet_name', 'DELETED', to_jsonb(OLD));
  ELSE
    INSERT INTO watch_changes (resource_version, kind, org_id, name, parent, op)
    VALUES (NEW.resource_version, TG_ARGV[0], NEW.org_id, NEW.name, to_jsonb(NEW) ->> 'fleet_name', 'ADDED');
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER devices_watch_notify AFTER INSERT OR UPDATE OR DELETE ON devices FOR EACH STATEMENT EXECUTE FUNCTION flightctl_watch_notify('Device');
--> statement-breakpoint
CREATE TRIGGER devices_watch_row AFTER INSERT OR DELETE ON devices FOR EACH ROW EXECUTE FUNCTION flightctl_watch_row('Device');
--> statement-breakpoint
CREATE TRIGGER fleets_watch_notify AFTER INSERT OR UPDATE OR DELETE ON fleets FOR EACH STATEMENT EXECUTE FUNCTION flightctl_watch_notify('Fleet');
--> statement-breakpoint
CREATE TRIGGER fleets_watch_row AFTER INSERT OR DELETE ON fleets FOR EACH ROW EXECUTE FUNCTION flightctl_watch_row('Fleet');
--> statement-breakpoint
CREATE TRIGGER template_versions_watch_notify AFTER INSERT OR UPDATE OR DELETE ON template_versions FOR EACH STATEMENT EXECUTE FUNCTION flightctl_watch_notify('TemplateVersion');
--> statement-breakpoint
CREATE TRIGGER template_versions_watch_row AFTER INSERT OR DELETE ON template_versions FOR EACH ROW EXECUTE FUNCTION flightctl_watch_row('TemplateVersion');
--> statement-breakpoint
CREATE TRIGGER enrollment_requests_watch_notify AFTER INSERT OR UPDATE OR DELETE ON enrollment_requests FOR EACH STATEMENT EXECUTE FUNCTION flightctl_watch_notify('EnrollmentRequest');
--> statement-breakpoint
CREATE TRIGGER enrollment_requests_watch_row AFTER INSERT OR DELETE ON enrollment_requests FOR EACH ROW EXECUTE FUNCTION flightctl_watch_row('EnrollmentRequest');
--> statement-breakpoint
CREATE TRIGGER certificate_signing_requests_watch_notify AFTER INSERT OR UPDATE OR DELETE ON certificate_signing_requests FOR EACH STATEMENT EXECUTE FUNCTION flightctl_watch_notify('CertificateSigningRequest');
--> statement-breakpoint
CREATE TRIGGER certificate_signing_requests_watch_row AFTER INSERT OR DELETE ON certificate_signing_requests FOR EACH ROW EXECUTE FUNCTION flightctl_watch_row('CertificateSigningRequest');
--> statement-breakpoint
CREATE TRIGGER repositories_watch_notify AFTER INSERT OR UPDATE OR DELETE ON repositories FOR EACH STATEMENT EXECUTE FUNCTION flightctl_watch_notify('Repository');
--> statement-breakpoint
CREATE TRIGGER repositories_watch_row AFTER INSERT OR DELETE ON repositories FOR EACH ROW EXECUTE FUNCTION flightctl_watch_row('Repository');
--> statement-breakpoint
CREATE TRIGGER resource_syncs_watch_notify AFTER INSERT OR UPDATE OR DELETE ON resource_syncs FOR EACH STATEMENT EXECUTE FUNCTION flightctl_watch_notify('ResourceSync');
--> statement-breakpoint
CREATE TRIGGER resource_syncs_watch_row AFTER INSERT OR DELETE ON resource_syncs FOR EACH ROW EXECUTE FUNCTION flightctl_watch_row('ResourceSync');
--> statement-breakpoint
CREATE TRIGGER events_watch_notify AFTER INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION flightctl_watch_notify('Event');
--> statement-breakpoint
-- Deletions before this migration were not recorded: resuming from a version older than now is "too old".
INSERT INTO watch_state (id, pruned_rv)
SELECT 1, CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM resource_version_seq
ON CONFLICT (id) DO NOTHING;
