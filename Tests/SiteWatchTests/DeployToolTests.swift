import Foundation
import Glibc
import StateStore
import Testing

@testable import SiteWatch

/// The tools users deploy with, run for real against a watched tree.
extension EndToEndTests {
    static func makeSource(_ path: String) {
        makeDirectories(Array((path + "/blog").utf8))
        writeFile(path, "index.html", "home")
        writeFile(path, "about.html", "about")
        writeFile(path, "blog/a.html", "post a")
        writeFile(path, "blog/b.html", "post b")
    }

    @Test(.enabled(if: toolExists("rsync"), "rsync is not installed"), arguments: [false, true])
    func rsyncDeploy(delayUpdates: Bool) async throws {
        let harness = try Harness()
        let source = harness.scratch.path + "/src"
        Self.makeSource(source)
        let flags = delayUpdates ? "-r --delete --delay-updates" : "-r --delete"
        #expect(shell("rsync \(flags) '\(source)/' '\(harness.root)/'") == 0)
        try await harness.start()
        // Next build: one edit, one new file, one removal, everything else rewritten identically
        // (new mtimes, so rsync without -t/-c copies every file again through a temp file).
        try await Task.sleep(for: .milliseconds(20))
        writeFile(source, "blog/a.html", "post a, edited")
        writeFile(source, "blog/c.html", "post c")
        removeFile(Array((source + "/about.html").utf8))
        writeFile(source, "index.html", "home")
        #expect(shell("rsync \(flags) -I '\(source)/' '\(harness.root)/'") == 0)
        #expect(
            try await harness.settle()
                == changes([
                    ("blog/a.html", .modified), ("blog/c.html", .created), ("about.html", .deleted),
                ]))
        #expect(!harness.lastScopeWasFull)
        await harness.stop()
    }

    /// rsync's own temp names (`.name.XXXXXX`, the `.~tmp~` directory) when nothing excludes them:
    /// they come and go within the window and leave nothing to report.
    @Test(.enabled(if: toolExists("rsync"), "rsync is not installed"))
    func rsyncDelayUpdatesWithoutExclusions() async throws {
        let harness = try Harness(exclude: .none)
        let source = harness.scratch.path + "/src"
        Self.makeSource(source)
        #expect(shell("rsync -r --delete --delay-updates '\(source)/' '\(harness.root)/'") == 0)
        try await harness.start()
        writeFile(source, "blog/b.html", "post b, edited")
        makeDirectories(source + "/new/deeper")
        writeFile(source, "new/deeper/n.html", "n")
        #expect(shell("rsync -r --delete --delay-updates -I '\(source)/' '\(harness.root)/'") == 0)
        #expect(try await harness.settle() == changes([("blog/b.html", .modified), ("new/deeper/n.html", .created)]))
        #expect(try harness.manifestPaths().allSatisfy { !$0.description.contains("~tmp~") })
        await harness.stop()
    }

    @Test(.enabled(if: toolExists("git"), "git is not installed"))
    func gitPullAndCheckout() async throws {
        let harness = try Harness()
        let origin = harness.scratch.path + "/origin"
        Self.makeSource(origin)
        let git = "git -c user.email=t@example.com -c user.name=t -c init.defaultBranch=main"
        #expect(shell("cd '\(origin)' && \(git) init -q && \(git) add -A && \(git) commit -qm v1") == 0)
        shell("rm -rf '\(harness.root)'")
        #expect(shell("\(git) clone -q '\(origin)' '\(harness.root)'") == 0)
        try await harness.start()
        #expect(try !harness.manifestPaths().contains { $0.description.hasPrefix(".git") })
        #expect(
            shell(
                """
                cd '\(origin)' && echo 'post a v2' > blog/a.html && git rm -q about.html && mkdir -p docs/deep \
                && echo guide > docs/deep/guide.html && \(git) add -A && \(git) commit -qm v2
                """) == 0)
        #expect(shell("cd '\(harness.root)' && \(git) pull -q --ff-only") == 0)
        #expect(
            try await harness.settle()
                == changes([
                    ("blog/a.html", .modified), ("about.html", .deleted), ("docs/deep/guide.html", .created),
                ]))
        // Checking out the previous commit undoes exactly that.
        #expect(shell("cd '\(harness.root)' && \(git) checkout -q HEAD~1") == 0)
        #expect(
            try await harness.settle()
                == changes([
                    ("blog/a.html", .modified), ("about.html", .created), ("docs/deep/guide.html", .deleted),
                ]))
        await harness.stop()
    }

    @Test(.enabled(if: toolExists("hugo"), "hugo is not installed"))
    func hugoRebuild() async throws {
        let harness = try Harness()
        let project = harness.scratch.path + "/hugo"
        makeDirectories(Array((project + "/layouts/_default").utf8))
        makeDirectories(Array((project + "/content/posts").utf8))
        writeFile(
            project, "hugo.toml",
            "baseURL = 'https://example.com/'\ntitle = 'T'\ndisableKinds = ['RSS', 'sitemap', 'taxonomy', 'term']\n")
        writeFile(project, "layouts/_default/baseof.html", "<html>{{ block \"main\" . }}{{ end }}</html>")
        writeFile(project, "layouts/_default/single.html", "{{ define \"main\" }}{{ .Title }}: {{ .Content }}{{ end }}")
        writeFile(
            project, "layouts/_default/list.html",
            "{{ define \"main\" }}{{ range .Pages }}{{ .Title }} {{ end }}{{ end }}")
        writeFile(project, "layouts/index.html", "home {{ range .Site.RegularPages }}{{ .Title }} {{ end }}")
        writeFile(project, "content/posts/one.md", "---\ntitle: One\n---\nfirst\n")
        writeFile(project, "content/posts/two.md", "---\ntitle: Two\n---\nsecond\n")
        let build = "hugo --quiet --noBuildLock -s '\(project)' -d '\(harness.root)'"
        #expect(shell(build) == 0)
        try await harness.start()
        #expect(try harness.manifestPaths().contains("posts/one/index.html"))
        // A full rebuild with no source change rewrites every file with the same bytes.
        #expect(shell(build) == 0)
        #expect(try await harness.settle().isEmpty)
        // Edit one post's body: only its page changes (the list pages show titles only).
        writeFile(project, "content/posts/two.md", "---\ntitle: Two\n---\nsecond, revised\n")
        #expect(shell(build) == 0)
        #expect(try await harness.settle() == changes([("posts/two/index.html", .modified)]))
        await harness.stop()
    }
}
