# bash completion for the mdtools commands. Flags come from the command
# itself (`md-x - --generate-bash-completion`; md-renew: its --help), so
# they never go stale; md-challenge completes its commands (setup, teardown,
# serve) and then that command's flags, md-parse import its clients (certbot,
# lego, acme.sh, or store) and flags; other words complete as file names
# (configs, record files).
_mdtools_flags() {
  local cmd=$1
  case ${cmd##*/} in
    md-renew)
      # option lines of the help: "  -d, --store DIR   ..." -> -d --store
      "$cmd" --help 2>/dev/null | awk '/^ +-/ && index($0, "-") <= 5 { for (i = 1; i <= NF && $i ~ /^-/; i++) { sub(/,$/, "", $i); print $i } }' ;;
    md-challenge)
      case ${COMP_WORDS[1]:-} in
        setup|teardown|serve) "$cmd" "${COMP_WORDS[1]}" - --generate-bash-completion 2>/dev/null ;;
        *) "$cmd" - --generate-bash-completion 2>/dev/null ;;
      esac ;;
    md-parse)
      case ${COMP_WORDS[1]:-} in
        import) "$cmd" import - --generate-bash-completion 2>/dev/null ;;
        *) "$cmd" - --generate-bash-completion 2>/dev/null ;;
      esac ;;
    *) "$cmd" - --generate-bash-completion 2>/dev/null ;;
  esac
}
_mdtools_complete() {
  local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[0]}
  if [[ ${cmd##*/} == md-challenge && $COMP_CWORD -eq 1 && $cur != -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "setup teardown serve" -- "$cur")
  elif [[ ${cmd##*/} == md-parse && ${COMP_WORDS[1]:-} == import && $cur != -* ]] &&
    ! printf '%s\n' "${COMP_WORDS[@]:2:COMP_CWORD-2}" | grep -qxE 'certbot|lego|acme\.sh|store'; then
    mapfile -t COMPREPLY < <(compgen -W "certbot lego acme.sh store" -- "$cur")
  elif [[ $cur == -* ]]; then
    local flags
    flags=$(_mdtools_flags "$cmd")
    mapfile -t COMPREPLY < <(compgen -W "$flags" -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
}
complete -o filenames -F _mdtools_complete md-parse md-order md-challenge md-install md-staple md-status md-renew
