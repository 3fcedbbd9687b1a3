#!/usr/bin/env zsh
# zsh_complete.zsh OUT FUNCTIONS LINE: what zsh's completion system offers for LINE (a
# command line whose last word is being completed), one a line, in OUT. FUNCTIONS is a
# directory holding the completion script (`_tiktok-shop-auth`), put first on $fpath, or
# the script itself, sourced after compinit (the README's line for ~/.zshrc). A
# real interactive zsh runs on a pseudo-terminal (zsh/zpty), compinit loads the script, TAB
# completes; compadd is wrapped only to write down what is offered. Exit 0 when something was.
zmodload zsh/zpty || exit 3
out=$1 dir=$2 line=$3
: > $out
zpty z zsh -f -i
if [[ -d $dir ]]; then
  zpty -w z "fpath=($dir \$fpath); autoload -U compinit; compinit -u -D"
else
  zpty -w z "autoload -U compinit; compinit -u -D; source $dir"
fi
zpty -w z 'compadd() { if [[ ${(j: :)@} == *-[OAD]\ * ]]; then builtin compadd "$@"; return; fi; local -a __hits; builtin compadd -A __hits "$@"; print -rl -- $__hits >> '$out'; builtin compadd "$@"; }'
zpty -w z "bindkey '^I' complete-word; zstyle ':completion:*' list-prompt ''; LISTMAX=100000"
zpty -w z "$line"$'\t'
for i in {1..50}; do
  [[ -s $out ]] && { sleep 0.3; break }
  sleep 0.1
done
zpty -d z
[[ -s $out ]]
