/*
 * Runs vars/ steps with stub pipeline steps and prints what they did, as JSON.
 * usage: groovy harness.groovy <repository root> <cases.json>
 * A case: {"name": ..., "step": ..., "config": {...}, "files": {"path": "content"}, "env": {...}};
 * env is the controller's global environment the step sees (PATHOPS_* endpoints).
 * For each case: every call (sh with its script, label and the merged environment it
 * would see; withCredentials with its bindings; nested steps; Inputs.check with the rule of
 * each parameter) and the error, if any.
 */
import groovy.json.JsonOutput
import groovy.json.JsonSlurper

class StepError extends RuntimeException {
    StepError(String message) { super(message) }
}

File root = new File(args[0])
List cases = new JsonSlurper().parse(new File(args[1])) as List
List results = []

cases.each { Map testCase ->
    List calls = []
    List<Map> envStack = [[:]]
    Map files = (testCase.files ?: [:]) as Map
    Binding binding = new Binding()
    GroovyClassLoader loader = new GroovyClassLoader(this.class.classLoader)
    loader.addClasspath(new File(root, 'src').path)
    GroovyShell shell = new GroovyShell(loader, binding)
    // Record which rule each step applies to which parameter (Inputs.check), then check as Jenkins would.
    Class inputs = loader.loadClass('io.pathops.jenkins.Inputs')
    MetaMethod check = inputs.metaClass.getStaticMetaMethod('check', [Object, String, Map, Map, List] as Object[])
    inputs.metaClass.static.check = { Object script, String step, Map cfg, Map rules, List required ->
        calls << [step: 'Inputs.check', rules: rules, required: required]
        check.invoke(null, [script, step, cfg, rules, required] as Object[])
    }
    Closure runStep
    runStep = { String name, Object[] arguments ->
        calls << [step: name, args: arguments.length > 0 && arguments[0] instanceof Map ? arguments[0] : [:]]
        Script script = shell.parse(new File(root, "vars/${name}.groovy"))
        script.binding = binding
        return script.invokeMethod('call', arguments)
    }
    new File(root, 'vars').listFiles().findAll { it.name.endsWith('.groovy') }.each { File file ->
        String name = file.name - '.groovy'
        binding.setVariable(name, { Object[] arguments -> runStep(name, arguments) })
    }
    binding.setVariable('env', [BUILD_URL: 'https://jenkins.demo.pathops.io/job/x/7/', JOB_NAME: 'x'] +
                               ((testCase.env ?: [:]) as Map))
    binding.setVariable('currentBuild', [currentResult: 'FAILURE'])
    binding.setVariable('error', { String message -> throw new StepError(message) })
    binding.setVariable('echo', { String message -> calls << [step: 'echo', message: message] })
    binding.setVariable('readFile', { String path -> calls << [step: 'readFile', path: path]; files[path] ?: '' })
    binding.setVariable('string', { Map spec -> [type: 'string'] + spec })
    binding.setVariable('usernamePassword', { Map spec -> [type: 'usernamePassword'] + spec })
    binding.setVariable('container', { String name, Closure body -> calls << [step: 'container', name: name]; body() })
    binding.setVariable('withEnv', { List entries, Closure body ->
        Map layer = [:]
        entries.each { Object entry ->
            String text = entry.toString()
            int cut = text.indexOf('=')
            layer[text.substring(0, cut)] = text.substring(cut + 1)
        }
        calls << [step: 'withEnv', entries: entries.collect { it.toString() }]
        envStack << layer
        try { return body() } finally { envStack.remove(envStack.size() - 1) }
    })
    binding.setVariable('withCredentials', { List bindings, Closure body ->
        Map layer = [:]
        bindings.each { Map spec ->
            spec.findAll { key, value -> key.toString().endsWith('ariable') }.each { key, value -> layer[value] = '****' }
        }
        calls << [step: 'withCredentials', bindings: bindings]
        envStack << layer
        try { return body() } finally { envStack.remove(envStack.size() - 1) }
    })
    binding.setVariable('sh', { Object arguments ->
        Map spec = arguments instanceof Map ? arguments : [script: arguments.toString()]
        Map merged = [:]
        envStack.each { merged.putAll(it) }
        calls << [step: 'sh', script: spec.script.toString(), label: spec.label?.toString(), env: merged,
                  interpolated: !(spec.script instanceof String)]
        return ''
    })
    String failure = null
    Object returned = null
    try {
        returned = runStep(testCase.step as String, [testCase.config ?: [:]] as Object[])
    } catch (StepError error) {
        failure = error.message
    }
    results << [name: testCase.name, calls: calls, error: failure, returned: returned?.toString()]
}
println JsonOutput.toJson(results)
