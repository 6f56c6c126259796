#!/usr/bin/env bash
# The GitHub Action's run step (action.yml): turns the Action's inputs into the arguments of
# `symship sourcemap process` and runs it.
#
# Inputs arrive ONLY as environment variables (action.yml maps `inputs.*` to SYMSHIP_INPUT_* in
# `env:`), so no input is ever pasted into shell source. Each value becomes exactly one argument,
# passed as `--flag=value` so that a value starting with `-` is still a value. Inputs are never
# echoed raw: a newline could start a workflow command.
#
#   SYMSHIP_INPUT_DIRECTORY        one path per line (required)
#   SYMSHIP_INPUT_INCLUDE          one glob per line
#   SYMSHIP_INPUT_EXCLUDE          one glob per line
#   SYMSHIP_INPUT_API_KEY          -> POSTHOG_CLI_API_KEY (environment, never argv)
#   SYMSHIP_INPUT_PROJECT_ID       -> POSTHOG_CLI_PROJECT_ID
#   SYMSHIP_INPUT_HOST             --host
#   SYMSHIP_INPUT_RELEASE_NAME     --release-name
#   SYMSHIP_INPUT_RELEASE_VERSION  --release-version
#   SYMSHIP_INPUT_BUILD            --build
#   SYMSHIP_INPUT_DELETE_AFTER     true|false -> --delete-after
#   SYMSHIP_INPUT_DRY_RUN          true|false -> --dry-run
#   SYMSHIP_INPUT_CONCURRENCY      a number  -> --concurrency
#   SYMSHIP_INPUT_BATCH_SIZE       a number  -> --batch-size
#   SYMSHIP_BIN                    the binary (default: `symship` on PATH)
#
# symship itself writes the step outputs (release-id, uploaded, skipped, failed, exit-code,
# summary-json) to $GITHUB_OUTPUT and the job summary to $GITHUB_STEP_SUMMARY.
set -euo pipefail

# Workflow-command data escaping (GitHub's rules: % CR LF).
esc() {
  local s=${1//%/%25}
  s=${s//$'\r'/%0D}
  printf '%s' "${s//$'\n'/%0A}"
}

die() {
  printf '::error title=symship action::%s\n' "$(esc "$1")" >&2
  exit 2
}

trim() {
  local s=$1
  s=${s#"${s%%[![:space:]]*}"}
  printf '%s' "${s%"${s##*[![:space:]]}"}"
}

is_true() { # name value
  case "$(trim "$2" | tr '[:upper:]' '[:lower:]')" in
    true | 1 | yes | on) return 0 ;;
    false | 0 | no | off | "") return 1 ;;
    *) die "input $1 must be true or false" ;;
  esac
}

global=()
args=()

# A list input: one value per line; blank lines and surrounding spaces are ignored.
add_list() { # flag value
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    line=$(trim "$line")
    [ -n "$line" ] && args+=("$1=$line")
  done <<<"$2"
  return 0
}

add_one() { # flag value (kept as given, apart from surrounding spaces)
  local v
  v=$(trim "$2")
  [ -n "$v" ] && args+=("$1=$v")
  return 0
}

add_number() { # input-name flag value
  local v
  v=$(trim "$3")
  [ -z "$v" ] && return 0
  [[ $v =~ ^[0-9]+$ ]] || die "input $1 must be a whole number"
  args+=("$2=$v")
}

[ -n "$(trim "${SYMSHIP_INPUT_DIRECTORY:-}")" ] || die "input directory is required (the build output, e.g. dist)"
add_list --directory "${SYMSHIP_INPUT_DIRECTORY:-}"
add_list --include "${SYMSHIP_INPUT_INCLUDE:-}"
add_list --exclude "${SYMSHIP_INPUT_EXCLUDE:-}"
add_one --release-name "${SYMSHIP_INPUT_RELEASE_NAME:-}"
add_one --release-version "${SYMSHIP_INPUT_RELEASE_VERSION:-}"
add_one --build "${SYMSHIP_INPUT_BUILD:-}"
add_number concurrency --concurrency "${SYMSHIP_INPUT_CONCURRENCY:-}"
add_number batch-size --batch-size "${SYMSHIP_INPUT_BATCH_SIZE:-}"
if is_true delete-after "${SYMSHIP_INPUT_DELETE_AFTER:-}"; then args+=(--delete-after); fi

host=$(trim "${SYMSHIP_INPUT_HOST:-}")
[ -n "$host" ] && global+=("--host=$host")
if is_true dry-run "${SYMSHIP_INPUT_DRY_RUN:-}"; then global+=(--dry-run); fi

# Credentials go through the environment, never argv (argv is visible to every process).
key=${SYMSHIP_INPUT_API_KEY:-}
if [ -n "$key" ]; then
  [[ $key == *[$'\r\n']* ]] && die "input api-key must be a single line"
  # GitHub masks secrets already; a key given literally is masked too.
  printf '::add-mask::%s\n' "$key"
  export POSTHOG_CLI_API_KEY="$key"
fi
project=$(trim "${SYMSHIP_INPUT_PROJECT_ID:-}")
if [ -n "$project" ]; then
  [[ $project =~ ^[0-9]+$ ]] || die "input project-id must be a number (the project id in PostHog's URL)"
  export POSTHOG_CLI_PROJECT_ID="$project"
fi
unset SYMSHIP_INPUT_API_KEY

exec "${SYMSHIP_BIN:-symship}" "${global[@]}" sourcemap process "${args[@]}"
