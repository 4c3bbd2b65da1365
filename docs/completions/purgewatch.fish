function __purgewatch_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __purgewatch_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __purgewatch_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __purgewatch_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __purgewatch_parse_tokens -S
    set -l unparsed_tokens (__purgewatch_tokens -pc)
    switch $unparsed_tokens[1]
    case 'purgewatch'
        __purgewatch_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'run'
            __purgewatch_parse_subcommand 0 'config=' 'dry-run' 'once' 'version' 'h/help'
        case 'flush'
            __purgewatch_parse_subcommand 0 'config=' 'wait' 'timeout=' 'full' 'version' 'h/help'
        case 'status'
            __purgewatch_parse_subcommand 0 'config=' 'json' 'dry-run' 'check' 'version' 'h/help'
        case 'purge'
            __purgewatch_parse_subcommand -r 1 'config=' 'wait' 'timeout=' 'any-url' 'version' 'h/help'
        case 'failures'
            __purgewatch_parse_subcommand -r 1 'config=' 'json' 'retry' 'forget' 'dry-run' 'version' 'h/help'
        case 'explain'
            __purgewatch_parse_subcommand -r 1 'config=' 'json' 'version' 'h/help'
        case 'check-config'
            __purgewatch_parse_subcommand 0 'config=' 'require-credentials' 'require-database' 'version' 'h/help'
        case 'help'
            __purgewatch_parse_subcommand -r 1 'version'
        end
    end
end

function __purgewatch_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __purgewatch_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __purgewatch_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __purgewatch_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__purgewatch_tokens -p)
    if test -z "$(__purgewatch_tokens -t)"
        set -l index (count (__purgewatch_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'purgewatch' -f
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch" version' -l 'version' -d 'Show the version.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_positional "purgewatch" -eq 1' -fa 'run' -d 'The daemon: reconcile the tree, watch it, and purge changed URLs until SIGTERM.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_positional "purgewatch" -eq 1' -fa 'flush' -d 'Tell the running daemon to close the coalescing window now (call it after a deploy\'s last write).'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_positional "purgewatch" -eq 1' -fa 'status' -d 'Show files tracked, pending URLs, recent batches, failures needing a human, and today\'s quota.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_positional "purgewatch" -eq 1' -fa 'purge' -d 'Queue URLs, or paths mapped through the rules, by hand: same queue, deduplication, quota and retries.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_positional "purgewatch" -eq 1' -fa 'failures' -d 'List the URLs that failed permanently; --retry queues them again, --forget acknowledges them.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_positional "purgewatch" -eq 1' -fa 'explain' -d 'Show, for each path, the rule that matches, whether it is excluded, and its exact URLs.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_positional "purgewatch" -eq 1' -fa 'check-config' -d 'Validate a config file and print the resolved settings (secrets are never printed).'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_positional "purgewatch" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch run" config' -l 'config' -d 'The site\'s TOML config file.' -rfka ''
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch run" dry-run' -l 'dry-run' -d 'Do everything but call the API: log each batch it would submit (own state file: STATE.dry-run).'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch run" once' -l 'once' -d 'Reconcile, submit what is pending, wait for the submissions, and exit (0 if all were accepted).'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch run" version' -l 'version' -d 'Show the version.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch run" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch flush" config' -l 'config' -d 'The site\'s TOML config file.' -rfka ''
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch flush" wait' -l 'wait' -d 'Wait until everything queued before the call is submitted or has failed.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch flush" timeout' -l 'timeout' -d 'How long --wait may take (e.g. 30s, 5m).' -rfka ''
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch flush" full' -l 'full' -d 'Compare the whole tree with the manifest, not only what inotify reported.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch flush" version' -l 'version' -d 'Show the version.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch flush" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch status" config' -l 'config' -d 'The site\'s TOML config file.' -rfka ''
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch status" json' -l 'json' -d 'Print the stable JSON form.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch status" dry-run' -l 'dry-run' -d 'Read the dry-run state (STATE.dry-run).'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch status" check' -l 'check' -d 'For monitoring: one line PURGEWATCH OK|WARNING|CRITICAL|UNKNOWN - summary | perfdata; exit 0/1/2/3.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch status" version' -l 'version' -d 'Show the version.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch status" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch purge" config' -l 'config' -d 'The site\'s TOML config file.' -rfka ''
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch purge" wait' -l 'wait' -d 'Wait until they are submitted (exit 0) or failed (exit 1).'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch purge" timeout' -l 'timeout' -d 'How long --wait may take.' -rfka ''
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch purge" any-url' -l 'any-url' -d 'Accept URLs under none of the rules\' urls (another host of the account).'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch purge" version' -l 'version' -d 'Show the version.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch purge" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch failures" config' -l 'config' -d 'The site\'s TOML config file.' -rfka ''
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch failures" json' -l 'json' -d 'Print the list as JSON: [{url, path, error_code, message, batch_id, failed_at}].'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch failures" retry' -l 'retry' -d 'Queue the failed URLs again.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch failures" forget' -l 'forget' -d 'Acknowledge the failures without purging.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch failures" dry-run' -l 'dry-run' -d 'Read the dry-run state (STATE.dry-run); listing only.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch failures" version' -l 'version' -d 'Show the version.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch failures" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch explain" config' -l 'config' -d 'The site\'s TOML config file.' -rfka ''
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch explain" json' -l 'json' -d 'Print a JSON array of {"path", "excluded", "rule", "urls"}.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch explain" version' -l 'version' -d 'Show the version.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch explain" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch check-config" config' -l 'config' -d 'The site\'s TOML config file.' -rfka ''
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch check-config" require-credentials' -l 'require-credentials' -d 'Fail (exit 78) when no usable credentials are found, e.g. in ExecStartPre=.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch check-config" require-database' -l 'require-database' -d 'With a PostgreSQL [state] url: connect to it, and fail (69) when it cannot be used.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch check-config" version' -l 'version' -d 'Show the version.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch check-config" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'purgewatch' -n '__purgewatch_should_offer_completions_for_flags_or_options "purgewatch help" version' -l 'version' -d 'Show the version.'
