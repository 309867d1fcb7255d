import io.pathops.jenkins.GitopsRun
import io.pathops.jenkins.Inputs

/**
 * Job schedule-evidence-collector (seed step 3): commit the Evidence Collector Job to the
 * app's GitOps repository; Argo CD runs it. Documentation: scheduleEvidenceCollector.txt.
 */
def call(Map userConfig = [:]) {
    Map endpoints = Inputs.endpoints(env)
    Map cfg = GitopsRun.DEFAULTS + endpoints + [
        timeWindow: '30m',
        image     : GitopsRun.image(endpoints, 'evidence-collector:0.1.0'),
    ] << userConfig
    cfg.targetNamespace = cfg.targetNamespace ?: "${cfg.app}-${cfg.env}"
    cfg.agentsNamespace = cfg.agentsNamespace ?: "${cfg.app}-agents"
    Inputs.check(this, 'scheduleEvidenceCollector', cfg,
        GitopsRun.RULES + [targetNamespace: 'namespace', agentsNamespace: 'namespace', timeWindow: 'timeWindow',
                           workload: 'workload'],
        GitopsRun.REQUIRED + ['incidentId'])

    List<String> environment = GitopsRun.environment('evidence-collector', cfg) + [
        "TARGET_NAMESPACE=${cfg.targetNamespace}",
        "AGENTS_NAMESPACE=${cfg.agentsNamespace}",
        "TIME_WINDOW=${cfg.timeWindow}",
    ]*.toString()
    if (cfg.workload) {
        environment << "WORKLOAD=${cfg.workload}".toString()
    }
    withCredentials([string(credentialsId: cfg.gitlabCredentialsId, variable: 'GITLAB_TOKEN')]) {
        withEnv(environment) {
            sh(label: 'gitops-patcher schedule evidence-collector', script: 'gitops-patcher schedule')
        }
    }
}
