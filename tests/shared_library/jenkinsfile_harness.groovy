/*
 * Runs a declarative Jenkinsfile with recording stubs and prints what it did, as JSON.
 * usage: groovy jenkinsfile_harness.groovy <repository root> <Jenkinsfile>...
 * Every block runs (stages, post, when) and every step is recorded with its arguments. The
 * shared library's steps exist only once a library is loaded, as in Jenkins: by `library(...)`
 * before the pipeline, or by an `@Library(...)` import line (read from the text: plain Groovy
 * has no such annotation). libraryResource or a vars/ step before that fails, as Jenkins fails it.
 */
import groovy.json.JsonOutput

File root = new File(args[0])
Set<String> librarySteps = new File(root, 'vars').listFiles()*.name.findAll { it.endsWith('.groovy') }
    .collect { it - '.groovy' } as Set
List results = []

class Recorder {
    List calls
    Set<String> librarySteps
    List libraries
    Closure onLibraryResource
    Object methodMissing(String name, Object arguments) {
        Object[] values = arguments as Object[]
        if (name == 'libraryResource') {
            return onLibraryResource(values[0])
        }
        if (name in librarySteps && libraries.isEmpty()) {
            throw new IllegalStateException("${name}(...) without a loaded library")
        }
        calls << [step: name, args: values.findAll { !(it instanceof Closure) }.collect { Object value ->
            value instanceof Map ? value.collectEntries { key, item -> [(key.toString()): item?.toString()] }
                                 : value.toString()
        }]
        Object body = values.length > 0 ? values[-1] : null
        if (body instanceof Closure) {
            Closure block = ((Closure) body).rehydrate(this, this, this)
            block.resolveStrategy = Closure.DELEGATE_FIRST
            return block()
        }
        return [step: name]
    }
    Object propertyMissing(String name) { return this }  // params.x, env.X, io.pathops...: recorded on use
    String toString() { return 'value' }
    void propertyMissing(String name, Object value) { calls << [step: 'set', name: name, value: value.toString()] }
}

args.drop(1).each { String path ->
    File jenkinsfile = new File(path)
    String text = jenkinsfile.text
    List calls = []
    List libraries = []
    String failure = null
    (text =~ /(?m)^@Library\('([^']+)'\)\s*_/).each { List match ->
        libraries << [identifier: match[1], how: '@Library']
    }
    Recorder recorder = new Recorder(calls: calls, librarySteps: librarySteps, libraries: libraries,
                                      onLibraryResource: { Object resource ->
        if (libraries.isEmpty()) {
            throw new IllegalStateException("libraryResource('${resource}') without a loaded library")
        }
        calls << [step: 'libraryResource', args: [resource.toString()]]
        return 'resource'
    })
    Binding binding = new Binding()
    binding.setVariable('scm', [kind: 'scm of this build'])
    binding.setVariable('legacySCM', { Object scm -> [retriever: 'legacySCM', scm: scm] })
    binding.setVariable('library', { Map spec ->
        libraries << [identifier: spec.identifier, how: 'library', retriever: spec.retriever?.retriever]
    })
    binding.setVariable('pipeline', { Closure body -> recorder.methodMissing('pipeline', [body] as Object[]) })
    String script = text.replaceAll(/(?m)^@Library\([^)]*\)\s*_\s*$/, '')
    try {
        new GroovyShell(binding).evaluate(script, jenkinsfile.name)
    } catch (IllegalStateException error) {
        failure = error.message
    }
    results << [path: path, libraries: libraries, calls: calls, error: failure]
}
println JsonOutput.toJson(results)
