import io.pathops.jenkins.Inputs

/**
 * Job build-fix-agent (seed step 5): build the Fix Agent image with the source embedded at
 * the exact commit, push it to Harbor, then schedule the Fix Agent with the pushed digest.
 * Documentation: buildFixAgent.txt.
 */
def call(Map userConfig = [:]) {
    String registry = Inputs.endpoints(env).registry
    Map defaults = [
        harborRepo           : registry ? "${registry}/agents".toString() : null,
        runtimeImage         : registry ? "${registry}/fix-agent-runtime:0.1.0".toString() : null,
        builder              : 'buildah',
        gitlabCredentialsId  : 'pathops-gitlab-token',
        harborCredentialsId  : 'pathops-harbor',
    ]
    Map cfg = defaults << userConfig
    Inputs.check(this, 'buildFixAgent', cfg,
        [app: 'app', srcRepo: 'gitUrl', sourceCommitSha: 'sha', snapshotId: 'snapshotId', incidentId: 'id',
         harborRepo: 'imageRepository', runtimeImage: 'image', builder: 'label', gitopsRepo: 'gitUrl',
         gitlabCredentialsId: 'credentialsId', harborCredentialsId: 'credentialsId'],
        ['app', 'srcRepo', 'sourceCommitSha', 'snapshotId', 'incidentId', 'gitopsRepo', 'harborRepo', 'runtimeImage'])
    if (!(cfg.builder in ['buildah', 'docker'])) {
        error('[buildFixAgent] builder must be buildah or docker')
    }
    withCredentials([
        string(credentialsId: cfg.gitlabCredentialsId, variable: 'GITLAB_TOKEN'),
        usernamePassword(credentialsId: cfg.harborCredentialsId, usernameVariable: 'REGISTRY_USERNAME',
                         passwordVariable: 'REGISTRY_PASSWORD'),
    ]) {
        withEnv([
            "APP_ID=${cfg.app}",
            "SOURCE_REPO=${cfg.srcRepo}",
            "SOURCE_COMMIT_SHA=${cfg.sourceCommitSha}",
            "INCIDENT_ID=${cfg.incidentId}",
            "HARBOR_REPO=${cfg.harborRepo}",
            "RUNTIME_IMAGE=${cfg.runtimeImage}",
            "IMAGE_BUILDER=${cfg.builder}",
            'IMAGE_REF_FILE=fix-agent-image.txt',
        ]) {
            sh(label: 'fix-agent build-image', script: 'fix-agent build-image')
        }
    }
    String pushed = readFile('fix-agent-image.txt').trim()
    scheduleFixAgent(cfg.subMap(['app', 'env', 'incidentId', 'snapshotId', 'gitopsRepo', 'gitopsBranch',
                                 'minioEndpoint', 'minioBucket', 'controlPlaneUrl', 'gitlabCredentialsId'])
                        .findAll { key, value -> value != null } + [image: pushed])
    return pushed
}
