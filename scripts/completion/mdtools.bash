# bash completion for the mdtools commands. Flags come from the command
# itself (`md-x - --generate-bash-completion`), so they never go stale;
# other words complete as file names (configs, record files).
_mdtools_complete() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  if [[ $cur == -* ]]; then
    local flags
    flags=$("${COMP_WORDS[0]}" - --generate-bash-completion 2>/dev/null)
    mapfile -t COMPREPLY < <(compgen -W "$flags" -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
}
complete -o filenames -F _mdtools_complete md-parse md-order md-challenge md-install md-staple md-status
