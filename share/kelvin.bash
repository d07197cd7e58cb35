# bash completion for kelvin (installed as share/bash-completion/completions/kelvin)
_kelvin() {
  local cur prev cmd i
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD-1]}
  cmd=
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in -*) ;; *) cmd=${COMP_WORDS[i]}; break ;; esac
  done
  if [ -z "$cmd" ]; then
    COMPREPLY=($(compgen -W "run sweep fit predict validate pipeline sensitivity optimize adapt plot info compare --verbose --quiet --version --help" -- "$cur"))
    return
  fi
  case $prev in
    --input|--output|--restart|--emit-slurm|-o|--diff) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  local opts="--help"
  case $cmd in
    run) opts="--restart --keys --help" ;;
    sweep) opts="--resume --dry-run --slice --collect --emit-slurm --sbatch --help" ;;
    predict) opts="--input --output --stdin --help" ;;
    plot) opts="--step --diff -o --help" ;;
    compare) opts="--rtol --atol --var --help" ;;
    info) opts="--verify --help" ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  elif [[ $cmd == predict || $cmd == info || $cmd == plot || $cmd == compare ]]; then
    COMPREPLY=($(compgen -f -X '!*.@(h5|nc|csv)' -- "$cur") $(compgen -d -- "$cur"))
  else
    COMPREPLY=($(compgen -f -X '!*.ini' -- "$cur") $(compgen -d -- "$cur"))
  fi
}
complete -o filenames -F _kelvin kelvin
