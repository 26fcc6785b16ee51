// flightctl completion: shell completion scripts for bash and zsh (verbs, resource types, and names from the
// server through `flightctl get <type> -o name`).
import { defineCommand } from "citty";
import { UsageError } from "../errors.js";
import { kinds } from "../kinds.js";

const VERBS =
  "login logout config version get describe apply edit patch delete approve deny decommission resume certificate enrollmentconfig rollout completion";
const TYPES = kinds.flatMap((k) => k.names).join(" ");

const bash = `# flightctl bash completion: source <(flightctl completion bash)
_flightctl() {
  local cur prev verb
  cur="\${COMP_WORDS[COMP_CWORD]}"; prev="\${COMP_WORDS[COMP_CWORD-1]}"; verb="\${COMP_WORDS[1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then COMPREPLY=( $(compgen -W "${VERBS}" -- "$cur") ); return; fi
  case "$prev" in -f|--filename|--certificate-authority|--patch-file|-d|--output-dir) COMPREPLY=( $(compgen -f -- "$cur") ); return;; -o|--output) COMPREPLY=( $(compgen -W "yaml json wide name" -- "$cur") ); return;; esac
  case "$verb" in
    get|describe|delete|edit|patch|approve|deny|decommission|resume|rollout)
      if [[ "$cur" == */* ]]; then
        COMPREPLY=( $(compgen -W "$(flightctl get "\${cur%%/*}" -o name 2>/dev/null)" -- "$cur") )
      else
        COMPREPLY=( $(compgen -W "${TYPES}" -- "$cur") )
      fi;;
    completion) COMPREPLY=( $(compgen -W "bash zsh" -- "$cur") );;
    config) COMPREPLY=( $(compgen -W "current-organization use-organization set-organization" -- "$cur") );;
    certificate) COMPREPLY=( $(compgen -W "request" -- "$cur") );;
  esac
}
complete -o default -F _flightctl flightctl
`;

const zsh = `#compdef flightctl
# flightctl zsh completion: source <(flightctl completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bash}`;

export default defineCommand({
  meta: {
    name: "completion",
    description: "Print a shell completion script.\n\n  source <(flightctl completion bash)\n  source <(flightctl completion zsh)",
  },
  args: { shell: { type: "positional", required: true, description: "bash or zsh" } },
  run({ args }) {
    if (args.shell === "bash") process.stdout.write(bash);
    else if (args.shell === "zsh") process.stdout.write(zsh);
    else throw new UsageError(`unsupported shell "${args.shell}"; use bash or zsh`);
  },
});
