import io.pathops.jenkins.GitopsRun
import io.pathops.jenkins.Inputs

/**
 * After a preflight deploy (seed section 3): commit the Verification Agent Job with its spec.
 * The spec comes from the patch bundle (patchId: the checks the fix brought, read and verified by
 * gitops-patcher) or from specRoot/specFile only (the app's default branch); gitops-patcher
 * resolves that file (symlinks too) and refuses anything outside specRoot.
 * Documentation: scheduleVerificationAgent.txt.
 */
def call(Map userConfig = [:]) {
    Map endpoints = Inputs.endpoints(env)
    Map cfg = GitopsRun.DEFAULTS + endpoints + [
        image             : GitopsRun.image(endpoints, 'verification-agent:0.1.0'),
        specRoot          : 'verification-spec',
        specFile          : 'verification.yaml',
        minioCredentialsId: 'pathops-minio',
    ] << userConfig
    cfg.env = 'preflight'
    // The run's own id from PathOps (VER-...), never an incident id; incidentId only when the
    // verified change answers one.
    Inputs.check(this, 'scheduleVerificationAgent', cfg,
        GitopsRun.RULES + [verificationId: 'verificationId', expectedCommitSha: 'sha', specRoot: 'path',
                           specFile: 'path', patchId: 'patchId', minioCredentialsId: 'credentialsId'],
        GitopsRun.REQUIRED + ['verificationId'])
    List<String> environment = GitopsRun.environment('verification-agent', cfg) + [
        "VERIFICATION_ID=${cfg.verificationId}",
    ]*.toString()
    if (cfg.expectedCommitSha) {
        environment << "EXPECTED_COMMIT_SHA=${cfg.expectedCommitSha}".toString()
    }
    List credentials = [string(credentialsId: cfg.gitlabCredentialsId, variable: 'GITLAB_TOKEN')]
    if (cfg.patchId) {
        environment << "PATCH_ID=${cfg.patchId}".toString()
        credentials << usernamePassword(credentialsId: cfg.minioCredentialsId, usernameVariable: 'AWS_ACCESS_KEY_ID',
                                        passwordVariable: 'AWS_SECRET_ACCESS_KEY')
    } else {
        environment << "VERIFICATION_SPEC_ROOT=${cfg.specRoot}".toString()
        environment << "VERIFICATION_SPEC_FILE=${cfg.specFile}".toString()
    }
    withCredentials(credentials) {
        withEnv(environment) {
            sh(label: 'gitops-patcher schedule verification-agent', script: 'gitops-patcher schedule')
        }
    }
}
