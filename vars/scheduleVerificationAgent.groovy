import io.pathops.jenkins.GitopsRun
import io.pathops.jenkins.Inputs

/**
 * After a preflight deploy (seed section 3): commit the Verification Agent Job with its spec.
 * The spec is read from specRoot/specFile only; gitops-patcher resolves it (symlinks too) and
 * refuses anything outside specRoot. Documentation: scheduleVerificationAgent.txt.
 */
def call(Map userConfig = [:]) {
    Map cfg = GitopsRun.DEFAULTS + [
        image   : 'harbor.demo.pathops.io/pathops/verification-agent:0.1.0',
        specRoot: 'verification-spec',
        specFile: 'verification.yaml',
    ] << userConfig
    cfg.env = 'preflight'
    cfg.incidentId = cfg.incidentId ?: cfg.verificationId
    Inputs.check(this, 'scheduleVerificationAgent', cfg,
        GitopsRun.RULES + [verificationId: 'id', expectedCommitSha: 'sha', specRoot: 'path', specFile: 'path'],
        ['app', 'verificationId', 'gitopsRepo'])
    List<String> environment = GitopsRun.environment('verification-agent', cfg) + [
        "VERIFICATION_ID=${cfg.verificationId}",
        "VERIFICATION_SPEC_ROOT=${cfg.specRoot}",
        "VERIFICATION_SPEC_FILE=${cfg.specFile}",
    ]*.toString()
    if (cfg.expectedCommitSha) {
        environment << "EXPECTED_COMMIT_SHA=${cfg.expectedCommitSha}".toString()
    }
    withCredentials([string(credentialsId: cfg.gitlabCredentialsId, variable: 'GITLAB_TOKEN')]) {
        withEnv(environment) {
            sh(label: 'gitops-patcher schedule verification-agent', script: 'gitops-patcher schedule')
        }
    }
}
