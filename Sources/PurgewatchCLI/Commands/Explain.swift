import ArgumentParser
import PurgeCore

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show, for each path, the rule that matches, whether it is excluded, and its exact URLs.",
        discussion: """
            PATH is relative to the site root, or absolute under it. File names that are not \
            UTF-8 are taken as raw bytes and shown with each invalid byte as \\xNN.
            """
    )

    @OptionGroup var options: ConfigOption

    @Flag(name: .long, help: "Print a JSON array of {\"path\", \"excluded\", \"rule\", \"urls\"}.")
    var json = false

    @Argument(help: ArgumentHelp("Paths to explain.", valueName: "PATH"))
    var paths: [String]

    func run() throws {
        let config = try options.load()
        let mapper = config.mapper
        var mappings: [PathMapper.Mapping] = []
        for raw in RawArguments.bytes(of: paths) {
            guard let path = config.relativePath(forArgument: raw) else {
                Console.err("\(RelativePath.escaped(raw)) is not under the site root \(config.site.root)")
                throw SysExit.dataError
            }
            mappings.append(mapper.map(path))
        }
        if json {
            Console.out(JSONText.array(mappings.map(\.json)))
            return
        }
        for mapping in mappings {
            Console.out(mapping.path.description)
            if mapping.excluded {
                Console.out("  excluded by [site] exclude: never purged")
            } else if let rule = mapping.rule {
                Console.out("  rule: prefix \"\(rule)\"")
            } else {
                Console.out("  no rule: no [[rule]] prefix matches this path, so it maps to no URL")
            }
            for url in mapping.urls { Console.out("  \(url)") }
        }
    }
}
