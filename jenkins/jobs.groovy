// Job DSL: creates the five PathOps jobs from this repository (see jenkins/README.md).
String repository = 'https://gitlab.demo.pathops.io/pathops/golden-path-autopilot.git'
List<String> jobs = [
    'schedule-evidence-collector',
    'build-fix-agent',
    'create-mr-from-patch',
    'schedule-verification-agent',
    'update-mr-from-verification',
]

folder('pathops') {
    description('PathOps golden path jobs, triggered by the PathOps control plane')
}

jobs.each { String name ->
    pipelineJob("pathops/${name}") {
        description("PathOps: ${name} (see jenkins/${name}/Jenkinsfile)")
        definition {
            cpsScm {
                scm {
                    git {
                        remote {
                            url(repository)
                            credentials('pathops-gitlab-http')
                        }
                        branch('main')
                    }
                }
                scriptPath("jenkins/${name}/Jenkinsfile")
                lightweight(true)
            }
        }
    }
}
