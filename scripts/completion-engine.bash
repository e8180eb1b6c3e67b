# shellcheck shell=bash
# The engine of the bash completion for the Qubes OS dom0 tools: store
# readers, replies and the walk over the command line that every command's
# completion uses. scripts/gen-docs.ts copies this file, from the line after
# this header on, into completions/qubes-tools.bash and adds the tables made
# from the command specs (each command's _qubes_tools_CMDID_* functions).
# Edit it here, then run `npm run build && npm run gen-docs`.

# --- store readers (no Node start: grep/sed over qubes.xml) -----------

_qubes_tools_store() {
  printf '%s\n' "${QUBES_XML_PATH:-/var/lib/qubes/qubes.xml}"
}

_qubes_tools_vms() {
  local f
  f=$(_qubes_tools_store)
  {
    printf '%s\n' dom0
    [ -r "$f" ] && sed -n 's/.*<property name="name">\([^<]*\)<\/property>.*/\1/p' "$f"
  } | sort -u
}

# _qubes_tools_from_store SED-SCRIPT: what the script prints for the store, sorted, unique.
_qubes_tools_from_store() {
  local f
  f=$(_qubes_tools_store)
  [ -r "$f" ] && sed -n "$1" "$f" | sort -u
}

_qubes_tools_labels() { _qubes_tools_from_store 's/.*<label [^>]*>\([^<]*\)<\/label>.*/\1/p'; }
_qubes_tools_features() { _qubes_tools_from_store 's/.*<feature name="\([^"]*\)".*/\1/p'; }
_qubes_tools_services() { _qubes_tools_from_store 's/.*<feature name="service\.\([^"]*\)".*/\1/p'; }
_qubes_tools_tags() { _qubes_tools_from_store 's/.*<tag name="\([^"]*\)".*/\1/p'; }
_qubes_tools_pools() { _qubes_tools_from_store 's/.*<pool [^>]*name="\([^"]*\)".*/\1/p'; }

# _qubes_tools_devices: BACKEND:PORT of the devices of the class being
# completed (qvm-CLASS, or qvm-device CLASS), from a live listing
_qubes_tools_devices() {
  local cmd=${COMP_WORDS[0]}
  case ${cmd##*/} in
    qvm-device)
      [ -n "${_qt_args[0]-}" ] || return 0
      "$cmd" "${_qt_args[0]}" list 2>/dev/null
      ;;
    *) "$cmd" list 2>/dev/null ;;
  esac | sed 's/ .*//' | sort -u
}

# QUBE:VOLUME for every volume in the store
_qubes_tools_vm_volumes() {
  local f t w vm=""
  f=$(_qubes_tools_store)
  [ -r "$f" ] && sed -n -e 's/.*<property name="name">\([^<]*\)<\/property>.*/N \1/p' \
    -e 's/.*<volume name="\([^"]*\)".*/V \1/p' "$f" |
    while read -r t w; do
      if [ "$t" = N ]; then vm=$w; else printf '%s:%s\n' "$vm" "$w"; fi
    done | sort -u
}

# revisions of the QUBE:VOLUME positional (asks qvm-volume: revisions live on disk)
_qubes_tools_revisions() {
  local i
  for i in "${!_qt_kinds[@]}"; do
    [ "${_qt_kinds[i]}" = vm-volume ] && qvm-volume info "${_qt_args[i]}" revisions 2>/dev/null
  done
}

# --- replies ------------------------------------------------------------

# _qubes_tools_reply WORD...: the words that start with $cur
_qubes_tools_reply() {
  local w
  for w in "$@"; do
    [[ $w == "$cur"* ]] && COMPREPLY+=("$w")
  done
  return 0
}

# _qubes_tools_reply_list WORD...: complete the last item of a comma-separated $cur
_qubes_tools_reply_list() {
  local w head="" last=$cur
  if [[ $cur == *,* ]]; then
    head=${cur%,*},
    last=${cur##*,}
  fi
  for w in "$@"; do
    [[ $w == "$last"* ]] && COMPREPLY+=("$head$w")
  done
  compopt -o nospace 2>/dev/null
  return 0
}

# _qubes_tools_reply_lines REPLY COMMAND...: REPLY (one of the two above) with
# the lines COMMAND prints as its words (a line is one word, never globbed)
_qubes_tools_reply_lines() {
  local reply=$1
  local -a words
  shift
  mapfile -t words < <("$@")
  "$reply" "${words[@]}"
}

_qubes_tools_files() {
  compopt -o filenames 2>/dev/null
  local -a files
  mapfile -t files < <(compgen -f -- "$cur")
  COMPREPLY+=("${files[@]}")
}

# _qubes_tools_property_value CMDID: the value of the property named by
# the PROPERTY positional (its kind tells vm or global)
_qubes_tools_property_value() {
  local i prop="" table=""
  for i in "${!_qt_kinds[@]}"; do
    case ${_qt_kinds[i]} in
      vm-property) prop=${_qt_args[i]}; table=vm ;;
      global-property) prop=${_qt_args[i]}; table=global ;;
    esac
  done
  [ -n "$table" ] || return 0
  prop=${prop//-/_}
  "_qubes_tools_${table}_property_value" "$prop"
}

# --- the walk over the command line --------------------------------------

# _qubes_tools_complete CMDID: uses _qubes_tools_CMDID_optarg (flag -> value
# kind, status 1 when the flag takes no value), _qubes_tools_CMDID_positional
# (index -> fills COMPREPLY) and _qubes_tools_CMDID_flags (the flag words).
_qubes_tools_complete() {
  local id=$1
  local cur=${COMP_WORDS[COMP_CWORD]}
  local prev=""
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  COMPREPLY=()
  local -a _qt_args=() _qt_kinds=()
  local i=1 w dashdash=0 kind varopt="" glue=0
  while ((i < COMP_CWORD)); do
    w=${COMP_WORDS[i]}
    # bash splits QUBE:VOLUME at ':' (COMP_WORDBREAKS): glue the pieces back
    if ((glue)) || { [[ $w == : ]] && ((!dashdash)) && ((${#_qt_args[@]})) && [ -z "$varopt" ]; }; then
      _qt_args[-1]+=$w
      [[ $w == : ]] && glue=1 || glue=0
      ((i += 1))
      continue
    elif ((dashdash)); then
      _qt_args+=("$w")
    elif [[ $w == -- ]]; then
      dashdash=1
      varopt=""
    elif [[ $w == -?* ]]; then
      varopt=""
      if [[ $w != *=* ]] && kind=$("_qubes_tools_${id}_optarg" "$w"); then
        if [[ ${COMP_WORDS[i + 1]-} == = ]]; then
          ((i += 2))
        else
          ((i += 1))
        fi
        # <X...>: the following words are values too, up to the next option
        [[ $kind == *' variadic'* ]] && varopt=$w
      fi
    elif [ -z "$varopt" ]; then
      _qt_args+=("$w")
    fi
    ((i += 1))
  done
  for i in "${!_qt_args[@]}"; do
    _qt_kinds[i]=$("_qubes_tools_${id}_argkind" "$i")
  done

  # the value of an option: "-l CUR", "--label=CUR" (split at '=' by bash)
  local opt=""
  if [[ $cur == = ]] && [[ $prev == -?* ]]; then
    opt=$prev
    cur=""
  elif [[ $prev == = ]] && ((COMP_CWORD > 1)) && [[ ${COMP_WORDS[COMP_CWORD - 2]} == -?* ]]; then
    opt=${COMP_WORDS[COMP_CWORD - 2]}
  elif ((!dashdash)) && [[ $prev == -?* ]] && [[ $prev != -- ]]; then
    opt=$prev
  fi
  if [ -n "$opt" ] && kind=$("_qubes_tools_${id}_optarg" "$opt"); then
    "_qubes_tools_${id}_optvalue" "$opt"
    return 0
  fi

  if ((!dashdash)) && [[ $cur != -* ]] && [ -n "$varopt" ]; then
    "_qubes_tools_${id}_optvalue" "$varopt"
    return 0
  fi

  if ((!dashdash)) && [[ $cur == -* ]]; then
    _qubes_tools_reply_lines _qubes_tools_reply "_qubes_tools_${id}_flags"
    return 0
  fi
  # the current word continues a QUBE:VOLUME split at ':': complete the whole
  # word, then give bash only the part after the last ':' (what it replaces)
  local colon=""
  if { [[ $cur == : ]] || ((glue)); } && ((${#_qt_args[@]})); then
    cur=${_qt_args[-1]}$cur
    unset '_qt_args[-1]'
    colon=${cur%"${cur##*:}"}
  fi
  "_qubes_tools_${id}_positional" "${#_qt_args[@]}"
  if [ -n "$colon" ]; then
    for i in "${!COMPREPLY[@]}"; do
      COMPREPLY[i]=${COMPREPLY[i]#"$colon"}
    done
  fi
  return 0
}
