/*
 * Feeds values through the Groovy identifier rules (src/io/pathops/jenkins/Inputs.groovy), as a step would.
 * usage: groovy rules.groovy <repository root> <cases.json>
 * A case: {"rule": "timeWindow", "value": "30m"}. Prints, as JSON, each Groovy rule with the Python rule it
 * mirrors (Inputs.MIRRORS) and, for each case, the error the rule gave or null when it accepted the value.
 */
import groovy.json.JsonOutput
import groovy.json.JsonSlurper

class RuleError extends RuntimeException {
    RuleError(String message) { super(message) }
}

class Step {
    void error(String message) { throw new RuleError(message) }
}

GroovyClassLoader loader = new GroovyClassLoader(this.class.classLoader)
loader.addClasspath(new File(args[0], 'src').path)
Class inputs = loader.loadClass('io.pathops.jenkins.Inputs')
List cases = new JsonSlurper().parse(new File(args[1])) as List
List results = cases.collect { Map testCase ->
    String failure = null
    try {
        inputs.check(new Step(), 'probe', [value: testCase.value], [value: testCase.rule], [])
    } catch (RuleError error) {
        failure = error.message
    }
    [rule: testCase.rule, value: testCase.value, error: failure]
}
println JsonOutput.toJson([rules: inputs.PATTERNS.keySet().toList(), mirrors: inputs.MIRRORS, results: results])
